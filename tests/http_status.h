/*
 * What the tests expect of every status the server can send (its own, or a proxied upstream's): its reason
 * phrase (RFC 9110 section 15 and the IANA registry) and whether the server closes the connection after it,
 * because the framing of what follows is in doubt (RFC 9112 section 6.3; close to Apache's
 * ap_status_drops_connection()). The one list in the tests: the integration harness, which links no server
 * code, builds its expectations from it, and tests/unit/test_http.c checks it against the server's own
 * (http_reason() in server/http.c, the closing statuses of server/http_conn.c) in both directions, so neither
 * can change without the other. Header-only.
 */
#ifndef HTTPD_TEST_HTTP_STATUS_H
#define HTTPD_TEST_HTTP_STATUS_H

#include <stddef.h>

struct http_status_expect {
    int status;
    const char *reason;
    int closes; /* Connection: close, and the server closes after the response */
};

static const struct http_status_expect http_status_table[] = {
    {100, "Continue", 0},
    {101, "Switching Protocols", 0},
    {102, "Processing", 0},
    {103, "Early Hints", 0},
    {200, "OK", 0},
    {201, "Created", 0},
    {202, "Accepted", 0},
    {203, "Non-Authoritative Information", 0},
    {204, "No Content", 0},
    {205, "Reset Content", 0},
    {206, "Partial Content", 0},
    {207, "Multi-Status", 0},
    {208, "Already Reported", 0},
    {226, "IM Used", 0},
    {300, "Multiple Choices", 0},
    {301, "Moved Permanently", 0},
    {302, "Found", 0},
    {303, "See Other", 0},
    {304, "Not Modified", 0},
    {305, "Use Proxy", 0},
    {307, "Temporary Redirect", 0},
    {308, "Permanent Redirect", 0},
    {400, "Bad Request", 1},
    {401, "Unauthorized", 0},
    {402, "Payment Required", 0},
    {403, "Forbidden", 0},
    {404, "Not Found", 0},
    {405, "Method Not Allowed", 0},
    {406, "Not Acceptable", 0},
    {407, "Proxy Authentication Required", 0},
    {408, "Request Timeout", 1},
    {409, "Conflict", 0},
    {410, "Gone", 0},
    {411, "Length Required", 0},
    {412, "Precondition Failed", 0},
    {413, "Content Too Large", 1},
    {414, "URI Too Long", 1},
    {415, "Unsupported Media Type", 0},
    {416, "Range Not Satisfiable", 0},
    {417, "Expectation Failed", 1},
    {421, "Misdirected Request", 0},
    {422, "Unprocessable Content", 0},
    {423, "Locked", 0},
    {424, "Failed Dependency", 0},
    {425, "Too Early", 0},
    {426, "Upgrade Required", 0},
    {428, "Precondition Required", 0},
    {429, "Too Many Requests", 0},
    {431, "Request Header Fields Too Large", 1},
    {451, "Unavailable For Legal Reasons", 0},
    {500, "Internal Server Error", 1},
    {501, "Not Implemented", 1},
    {502, "Bad Gateway", 0},
    {503, "Service Unavailable", 0},
    {504, "Gateway Timeout", 0},
    {505, "HTTP Version Not Supported", 1},
    {506, "Variant Also Negotiates", 0},
    {507, "Insufficient Storage", 0},
    {508, "Loop Detected", 0},
    {510, "Not Extended", 0},
    {511, "Network Authentication Required", 0},
};

#define HTTP_STATUS_COUNT (sizeof(http_status_table) / sizeof(http_status_table[0]))

/* The entry of `status`, or NULL when the server never sends it. */
static inline const struct http_status_expect *http_status_find(int status)
{
    for (size_t i = 0; i < HTTP_STATUS_COUNT; i++)
        if (http_status_table[i].status == status)
            return &http_status_table[i];
    return NULL;
}

#endif
