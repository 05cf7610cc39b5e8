/* The registry of concurrency models: `MPM name` in the config picks one of these. */

#include <strings.h>

#include "mpm.h"

const struct mpm *const mpm_registry[] = {
    &mpm_prefork,
    &mpm_worker,
    &mpm_event,
    NULL,
};

const struct mpm *mpm_find(const char *name)
{
    for (int i = 0; mpm_registry[i] != NULL; i++)
        if (strcasecmp(mpm_registry[i]->name, name) == 0)
            return mpm_registry[i];
    return NULL;
}

const struct mpm *mpm_default(void)
{
    return mpm_registry[0];
}
