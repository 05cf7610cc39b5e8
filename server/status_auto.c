/*
 * /server-status?auto: Apache's machine-readable text, key for key in the order and value formats of Apache
 * 2.4's mod_status as Debian's apache2 (2.4.71, ExtendedStatus On) prints it under each MPM, so that the
 * tools that read it (prometheus-apache-exporter, telegraf, collectd and the like) read ours unchanged. One
 * "Key: value" line each after the server's name:
 *
 *   ServerVersion, ServerMPM, Server Built, CurrentTime, RestartTime, ParentServerConfigGeneration,
 *   ParentServerMPMGeneration, ServerUptimeSeconds, ServerUptime, Load1, Load5, Load15, Total Accesses,
 *   Total kBytes, Total Duration, CPUUser, CPUSystem, CPUChildrenUser, CPUChildrenSystem, CPULoad, Uptime,
 *   ReqPerSec, BytesPerSec, BytesPerReq, DurationPerReq, BusyWorkers, GracefulWorkers, IdleWorkers,
 *   then for an asynchronous model (event) Processes, Stopping, ConnsTotal, ConnsAsyncWaitIO,
 *   ConnsAsyncWriting, ConnsAsyncKeepAlive, ConnsAsyncClosing; last the Scoreboard.
 *
 * Left out as Apache leaves them out: CPULoad until some CPU time was used, ReqPerSec and BytesPerSec until
 * the server has been up a second, BytesPerReq and DurationPerReq until it has served a request; and the four
 * CPU keys when /proc could not be read. Floats are printed as APR's "%g" prints them: six significant digits
 * and no zero before the point (".0277778").
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "server.h"
#include "status_snap.h"

/*
 * `v` as APR's "%g" prints it (what Apache's ?auto shows): six significant digits, trailing zeros dropped,
 * no zero before the point (".0277778"), exponent form when the number would need more than four trailing
 * zeros or starts more than three places after the point, with an unpadded exponent ("1.5e+7", "2.5e-5").
 */
static void format_apr_g(double v, char *buf, size_t size)
{
    char digits[16], tmp[40], res[48];
    char *p = res;

    if (v != v || v > 1e300 || v < -1e300) { /* NaN or infinite: never produced by the callers */
        snprintf(buf, size, "0");
        return;
    }
    if (v == 0) {
        snprintf(buf, size, "0");
        return;
    }
    if (v < 0) {
        *p++ = '-';
        v = -v;
    }
    /* d.ddddde[+-]X...: six correctly rounded significant digits and the decimal exponent */
    snprintf(tmp, sizeof(tmp), "%.5e", v);
    digits[0] = tmp[0];
    memcpy(digits + 1, tmp + 2, 5);
    int decpt = atoi(tmp + 8) + 1; /* digits before the point */
    int nd = 6;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;

    if ((decpt >= 0 && decpt - nd > 4) || decpt < -3) {
        int e = decpt - 1;
        *p++ = digits[0];
        *p++ = '.';
        for (int i = 1; i < nd; i++)
            *p++ = digits[i];
        *p++ = 'e';
        *p++ = e < 0 ? '-' : '+';
        if (e < 0)
            e = -e;
        if (e / 100 > 0)
            *p++ = (char)('0' + e / 100);
        if (e / 10 > 0)
            *p++ = (char)('0' + (e % 100) / 10);
        *p++ = (char)('0' + e % 10);
    } else {
        if (decpt <= 0) {
            *p++ = '.';
            for (; decpt < 0; decpt++)
                *p++ = '0';
        }
        for (int i = 1; i <= nd; i++) {
            *p++ = digits[i - 1];
            if (i == decpt)
                *p++ = '.';
        }
        for (int i = nd; i < decpt; i++)
            *p++ = '0';
        if (nd < decpt)
            *p++ = '.';
    }
    if (p[-1] == '.')
        p--;
    *p = '\0';
    snprintf(buf, size, "%s", res);
}

static void put_g(struct pbuf *b, const char *key, double v)
{
    char num[48];
    format_apr_g(v, num, sizeof(num));
    pbuf_printf(b, "%s: %s\n", key, num);
}

void status_render_auto(struct pbuf *b, const struct status_snap *sn, const struct status_sys *sys)
{
    char now[96], start[96];
    status_format_time(sys->now, now, sizeof(now));
    status_format_time(sn->start, start, sizeof(start));

    pbuf_printf(b, "%s\n", sn->host);
    pbuf_printf(b, "ServerVersion: %s\n", SERVER_SOFTWARE);
    pbuf_printf(b, "ServerMPM: %s\n", sn->mpm);
    pbuf_printf(b, "Server Built: %s\n", status_server_built);
    pbuf_printf(b, "CurrentTime: %s\n", now);
    pbuf_printf(b, "RestartTime: %s\n", start);
    pbuf_printf(b, "ParentServerConfigGeneration: %d\n", sn->generation + 1);
    pbuf_printf(b, "ParentServerMPMGeneration: %d\n", sn->generation);
    pbuf_printf(b, "ServerUptimeSeconds: %ld\n", sn->uptime);
    pbuf_puts(b, "ServerUptime:");
    status_put_uptime(b, sn->uptime);
    pbuf_puts(b, "\n");
    pbuf_printf(b, "Load1: %.2f\nLoad5: %.2f\nLoad15: %.2f\n", sys->load[0], sys->load[1], sys->load[2]);
    pbuf_printf(b, "Total Accesses: %" PRIu64 "\n", sn->accesses);
    pbuf_printf(b, "Total kBytes: %" PRIu64 "\n", sn->bytes / STATUS_KBYTE);
    pbuf_printf(b, "Total Duration: %" PRIu64 "\n", sn->duration_ms);
    if (sys->have_cpu) {
        put_g(b, "CPUUser", sys->cpu_user);
        put_g(b, "CPUSystem", sys->cpu_system);
        put_g(b, "CPUChildrenUser", sys->cpu_children_user);
        put_g(b, "CPUChildrenSystem", sys->cpu_children_system);
        if (status_cpu_load(sn, sys) > 0)
            put_g(b, "CPULoad", status_cpu_load(sn, sys));
    }
    pbuf_printf(b, "Uptime: %ld\n", sn->uptime);
    if (sn->uptime > 0) {
        put_g(b, "ReqPerSec", status_req_per_sec(sn));
        put_g(b, "BytesPerSec", status_bytes_per_sec(sn));
    }
    if (sn->accesses > 0) {
        put_g(b, "BytesPerReq", status_bytes_per_req(sn));
        put_g(b, "DurationPerReq", status_duration_per_req(sn));
    }
    pbuf_printf(b, "BusyWorkers: %d\nGracefulWorkers: %d\nIdleWorkers: %d\n", sn->busy, sn->graceful,
                sn->idle);
    if (sn->async)
        pbuf_printf(
            b,
            "Processes: %d\nStopping: %d\nConnsTotal: %ld\nConnsAsyncWaitIO: %d\nConnsAsyncWriting: %ld\n"
            "ConnsAsyncKeepAlive: %ld\nConnsAsyncClosing: %d\n",
            sn->procs, sn->stopping, sn->conns, 0, sn->writing, sn->keepalive, 0);
    pbuf_printf(b, "Scoreboard: %s\n", sn->board);
    /* mod_proxy_balancer's lines, after the scoreboard as Apache prints them */
    for (int i = 0; i < sn->n_members; i++) {
        const struct status_member *m = &sn->members[i];
        int bi = m->balancer_index, wi = m->member_index;
        if (wi == 0)
            pbuf_printf(b, "ProxyBalancer[%d]Name: %s\n", bi, m->balancer);
        pbuf_printf(b, "ProxyBalancer[%d]Worker[%d]Name: %s\n", bi, wi, m->url);
        pbuf_printf(b, "ProxyBalancer[%d]Worker[%d]Status: %s\n", bi, wi,
                    m->in_error ? "Init Err" : "Init Ok");
        pbuf_printf(b, "ProxyBalancer[%d]Worker[%d]Elected: %" PRIu64 "\n", bi, wi, m->elected);
        pbuf_printf(b, "ProxyBalancer[%d]Worker[%d]Busy: %d\n", bi, wi, m->busy);
        pbuf_printf(b, "ProxyBalancer[%d]Worker[%d]Failures: %" PRIu64 "\n", bi, wi, m->failures);
        pbuf_printf(b, "ProxyBalancer[%d]Worker[%d]Sent: %" PRIu64 "K\n", bi, wi, m->sent / STATUS_KBYTE);
        pbuf_printf(b, "ProxyBalancer[%d]Worker[%d]Rcvd: %" PRIu64 "K\n", bi, wi, m->rcvd / STATUS_KBYTE);
    }
}
