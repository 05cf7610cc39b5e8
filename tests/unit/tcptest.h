/*
 * A connected pair of TCP sockets on 127.0.0.1 for unit tests that need what a socketpair() lacks (TCP
 * options such as TCP_QUICKACK), and a look at a socket's quick-ACK mode.
 */
#ifndef HTTPD_TEST_TCPTEST_H
#define HTTPD_TEST_TCPTEST_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

/* fds[0] the accepted (server's) end, non-blocking; fds[1] the client's, blocking. */
static inline void tcptest_pair(int fds[2])
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(l >= 0 && bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 1) == 0);
    cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
    fds[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fds[1] >= 0 && connect(fds[1], (struct sockaddr *)&a, sizeof(a)) == 0);
    fds[0] = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    cr_assert(fds[0] >= 0);
    close(l);
}

/* Whether fd acknowledges at once (1) or delays its ACKs (0): getsockopt(TCP_QUICKACK). */
static inline int tcptest_quick_acks(int fd)
{
    int on = -1;
    socklen_t len = sizeof(on);
    cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &on, &len), 0);
    return on;
}

/* Makes fd delay its ACKs, as an accepted socket starts (server/listen.c). */
static inline void tcptest_delay_acks(int fd)
{
    int zero = 0;
    cr_assert_eq(setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof(zero)), 0);
    cr_assert_eq(tcptest_quick_acks(fd), 0);
}

#endif
