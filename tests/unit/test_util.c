/* HTTP dates (all three RFC 9110 forms), number parsing and formatting, error buffers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "tcptest.h"
#include "util.h"

Test(util, date_round_trip)
{
    char buf[32];
    http_date_format(784111777, buf);
    cr_assert_str_eq(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
    cr_assert_eq(http_date_parse(buf), 784111777);
}

Test(util, date_format_every_field)
{
    char buf[32];
    http_date_format(0, buf);
    cr_assert_str_eq(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
    http_date_format(1700000000, buf);
    cr_assert_str_eq(buf, "Tue, 14 Nov 2023 22:13:20 GMT");
    http_date_format(253402300799, buf); /* the last second of 9999 */
    cr_assert_str_eq(buf, "Fri, 31 Dec 9999 23:59:59 GMT");
    http_date_format(951782400, buf); /* a leap day */
    cr_assert_str_eq(buf, "Tue, 29 Feb 2000 00:00:00 GMT");
}

Test(util, utoa_and_hex)
{
    char buf[24];
    cr_assert_eq(util_utoa(buf, 0), 1);
    cr_assert_str_eq(buf, "0");
    cr_assert_eq(util_utoa(buf, 18446744073709551615ull), 20);
    cr_assert_str_eq(buf, "18446744073709551615");
    cr_assert_eq(util_utoa(buf, 1024), 4);
    cr_assert_str_eq(buf, "1024");
    /* every digit count and both parities of it, against printf */
    char want[24];
    for (unsigned long long v = 0; v < 100000; v++) {
        size_t n = util_utoa(buf, v);
        cr_assert_eq(n, (size_t)snprintf(want, sizeof(want), "%llu", v));
        cr_assert_str_eq(buf, want);
    }
    for (unsigned long long p = 10; p <= 10000000000000000000ull; p *= 10) {
        unsigned long long around[] = {p - 1, p, p + 1, p * 9 / 10 + 7};
        for (size_t i = 0; i < sizeof(around) / sizeof(around[0]); i++) {
            size_t n = util_utoa(buf, around[i]);
            cr_assert_eq(n, (size_t)snprintf(want, sizeof(want), "%llu", around[i]));
            cr_assert_str_eq(buf, want);
        }
        if (p > 18446744073709551615ull / 10)
            break;
    }
    cr_assert_eq(util_hex(buf, 0), 1);
    cr_assert_str_eq(buf, "0");
    cr_assert_eq(util_hex(buf, 0x661ffcfedb38full), 13);
    cr_assert_str_eq(buf, "661ffcfedb38f");
    cr_assert_eq(util_hex(buf, 18446744073709551615ull), 16);
    cr_assert_str_eq(buf, "ffffffffffffffff");
}

/* RFC 3986's classes, byte by byte against the grammar's own lists. */
Test(util, uri_character_classes)
{
    static const char unreserved_sub_delims[] = "-._~!$&'()*+,;=";
    for (int ch = 0; ch < 256; ch++) {
        int alnum = (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
        int reg = alnum || (ch != 0 && strchr(unreserved_sub_delims, ch) != NULL);
        int path = reg || ch == ':' || ch == '@' || ch == '/';
        cr_assert_eq(uri_char((unsigned char)ch, URI_REG_NAME), reg, "0x%02x in a reg-name", ch);
        cr_assert_eq(uri_char((unsigned char)ch, URI_PATH), path, "0x%02x in a path", ch);
    }
}

Test(util, date_obsolete_forms)
{
    cr_assert_eq(http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
    cr_assert_eq(http_date_parse("Sun Nov  6 08:49:37 1994"), 784111777);
}

Test(util, date_invalid)
{
    cr_assert_eq(http_date_parse(""), -1);
    cr_assert_eq(http_date_parse("yesterday"), -1);
    cr_assert_eq(http_date_parse("Sun, 06 Nov 1994 08:49:37 PST"), -1);
    cr_assert_eq(http_date_parse("Sun, 06 Foo 1994 08:49:37 GMT"), -1);
    cr_assert_eq(http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT trailing"), -1);
    cr_assert_eq(http_date_parse("Sun, 32 Nov 1994 08:49:37 GMT"), -1);
}

Test(util, date_now_is_cached_and_well_formed)
{
    const char *d = http_date_now();
    cr_assert_eq(strlen(d), 29);
    cr_assert(strcmp(d + 25, " GMT") == 0 || strcmp(d + 26, "GMT") == 0);
    cr_assert_neq(http_date_parse(d), -1);
}

Test(util, parse_uint)
{
    cr_assert_eq(parse_uint("0"), 0);
    cr_assert_eq(parse_uint("8190"), 8190);
    cr_assert_eq(parse_uint("9223372036854775799"), 9223372036854775799LL);
    cr_assert_eq(parse_uint("99999999999999999999"), -1);
    cr_assert_eq(parse_uint(""), -1);
    cr_assert_eq(parse_uint("-1"), -1);
    cr_assert_eq(parse_uint("12a"), -1);
    cr_assert_eq(parse_uint(" 1"), -1);
}

Test(util, errbuf_and_str_ieq)
{
    struct errbuf e;
    cr_assert_eq(errbuf_set(&e, "%s:%d", "f", 3), -1);
    cr_assert_str_eq(e.msg, "f:3");
    cr_assert_eq(errbuf_set(NULL, "x"), -1);
    cr_assert(str_ieq("Host", "hOST", 4));
    cr_assert_not(str_ieq("Host", "Hostx", 5));
}

Test(util, quick_acks)
{
    int fds[2];
    tcptest_pair(fds);
    tcptest_delay_acks(fds[0]);
    cr_assert_eq(util_quick_acks(fds[0], 1), 0);
    cr_assert_eq(tcptest_quick_acks(fds[0]), 1);
    cr_assert_eq(util_quick_acks(fds[0], 0), 0);
    cr_assert_eq(tcptest_quick_acks(fds[0]), 0);
    close(fds[0]);
    close(fds[1]);
    cr_assert_eq(util_quick_acks(fds[0], 1), -1, "a closed descriptor");
}

Test(util, list_has)
{
    cr_assert(util_list_has("keep-alive, Upgrade", "upgrade", 1));
    cr_assert(!util_list_has("keep-alive, Upgrade", "upgrade", 0));
    cr_assert(util_list_has(" a ,\tb\t, c", "b", 0));
    cr_assert(util_list_has("a,,c", "c", 0));
    cr_assert(!util_list_has("ab, c", "a", 0));
    cr_assert(!util_list_has("", "a", 0));
    cr_assert(!util_list_has(NULL, "a", 1));
    cr_assert(util_list_has("max-age=0, no-cache", "no-cache", 0));
}
