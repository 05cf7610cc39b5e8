/*
 * server/transport.c: the plain transport is the socket's own calls, and says what a blocked call waits for
 * (reads: readable, writes: writable); it has no handshake, nothing pending and no goodbye. Quick ACKs are
 * turned back on once until the flag is cleared.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcptest.h"
#include "transport.h"

Test(transport, plain_calls_and_wants)
{
    int sp[2];
    char buf[64];
    struct transport t;
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
    transport_plain_init(&t, sp[0]);
    cr_assert(t.ops == &transport_plain && !t.handshaking && t.ops->handshake == NULL);
    cr_assert_eq(transport_pending(&t), 0);

    cr_assert_eq(t.ops->recv(&t, buf, sizeof(buf)), -1);
    cr_assert(errno == EAGAIN && t.want == TRANSPORT_WANT_READ);

    struct iovec iov[2] = {{"ab", 2}, {"cde", 3}};
    cr_assert_eq(t.ops->send(&t, iov, 2, 0), 5);
    cr_assert_eq(read(sp[1], buf, sizeof(buf)), 5);
    cr_assert_eq(memcmp(buf, "abcde", 5), 0);

    char path[] = "/tmp/test_transport.XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0 && write(fd, "0123456789", 10) == 10);
    cr_assert_eq(t.ops->send_file(&t, fd, 3, 4), 4);
    cr_assert_eq(read(sp[1], buf, sizeof(buf)), 4);
    cr_assert_eq(memcmp(buf, "3456", 4), 0);
    cr_assert_eq(t.ops->send_file(&t, fd, 10, 4), -1, "the file ends at the range");
    cr_assert_eq(errno, ENODATA);
    unlink(path);
    close(fd);

    static char big[65536];
    struct iovec one = {big, sizeof(big)};
    int i;
    for (i = 0; i < 1000 && t.ops->send(&t, &one, 1, 0) > 0; i++)
        ;
    cr_assert(i < 1000 && errno == EAGAIN && t.want == TRANSPORT_WANT_WRITE);

    transport_close(&t); /* no goodbye, nothing to free: the socket stays open */
    cr_assert_eq(fcntl(sp[0], F_GETFD) >= 0, 1);
    close(sp[0]);
    close(sp[1]);

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
    transport_plain_init(&t, sp[0]);
    cr_assert_eq(write(sp[1], "x", 1), 1);
    cr_assert_eq(t.ops->recv(&t, buf, sizeof(buf)), 1);
    close(sp[1]);
    cr_assert_eq(t.ops->recv(&t, buf, sizeof(buf)), 0, "EOF");
    close(sp[0]);
}

Test(transport, quick_acks_back_on_once_until_cleared)
{
    int fds[2];
    struct transport t;
    tcptest_pair(fds);
    transport_plain_init(&t, fds[0]);
    cr_assert_eq(t.quick_acks, 0);
    tcptest_delay_acks(fds[0]);
    transport_quick_acks(&t);
    cr_assert(t.quick_acks == 1 && tcptest_quick_acks(fds[0]) == 1);

    /* the flag says they are on: no second system call while it stands */
    tcptest_delay_acks(fds[0]);
    transport_quick_acks(&t);
    cr_assert_eq(tcptest_quick_acks(fds[0]), 0);
    t.quick_acks = 0; /* as driver_write() clears it */
    transport_quick_acks(&t);
    cr_assert_eq(tcptest_quick_acks(fds[0]), 1);
    close(fds[0]);
    close(fds[1]);

    /* not TCP: the failure is only logged */
    int sp[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    transport_plain_init(&t, sp[0]);
    transport_quick_acks(&t);
    cr_assert_eq(t.quick_acks, 1);
    close(sp[0]);
    close(sp[1]);
}
