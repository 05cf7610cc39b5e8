/*
 * The MPM's hooks over handlers' sockets (see sockwatch.h): one pointer per process, set by an MPM's child
 * before it serves, read by the handlers of that child.
 */

#include <stddef.h>
#include <unistd.h>

#include "sockwatch.h"

static const struct sockwatch_ops *watch;

void sockwatch_set(const struct sockwatch_ops *ops)
{
    watch = ops;
}

int sockwatch_close(int fd)
{
    if (watch != NULL)
        watch->closing(fd);
    return close(fd);
}

int sockwatch_quiet(int fd)
{
    return watch != NULL && watch->quiet(fd);
}
