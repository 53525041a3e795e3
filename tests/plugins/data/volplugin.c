/* A tiny volume plugin for the managed-plugin tests, built static so it runs in a rootfs with
 * nothing else in it. It serves Docker's plugin protocol (HTTP/1.1 POSTs, JSON bodies) on the UNIX
 * socket named by argv[1] (inside /run/docker/plugins/), answers Plugin.Activate with VolumeDriver
 * and the VolumeDriver calls from an in-memory list, and appends one line per request to
 * requests.log beside its socket (the runtime dir the daemon binds in, so the test can read it).
 * At start it logs "started MODE=<$MODE> args=<argv[2..]>" so the test sees `plugin set` applied.
 * SIGTERM ends it: as PID 1 of its namespace it would otherwise ignore the signal. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_VOLUMES 64
#define NAME_LEN 128

static char volumes[MAX_VOLUMES][NAME_LEN];
static int nvolumes;
static char logpath[256];

static void on_term(int sig) { (void)sig; _exit(0); }

static void logline(const char *what, const char *body) {
    FILE *f = fopen(logpath, "a");
    if (!f) return;
    fprintf(f, "%s %s\n", what, body);
    fclose(f);
}

/* The value of "Name" in a JSON body, or "" (names in tests have no escapes). */
static void json_name(const char *body, char *out) {
    const char *p = strstr(body, "\"Name\"");
    out[0] = 0;
    if (!p) return;
    p = strchr(p + 6, '"');
    if (!p) return;
    p++;
    int i = 0;
    while (*p && *p != '"' && i < NAME_LEN - 1) out[i++] = *p++;
    out[i] = 0;
}

static int find(const char *name) {
    for (int i = 0; i < nvolumes; i++)
        if (strcmp(volumes[i], name) == 0) return i;
    return -1;
}

static void answer(int fd, int status, const char *json) {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/vnd.docker.plugins.v1+json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, status == 200 ? "OK" : "Not Found", strlen(json));
    if (write(fd, head, n) < 0 || write(fd, json, strlen(json)) < 0) return;
}

static void route(int fd, const char *path, const char *body) {
    char name[NAME_LEN], reply[8192];
    json_name(body, name);
    logline(path, body);
    if (strcmp(path, "/Plugin.Activate") == 0) {
        answer(fd, 200, "{\"Implements\":[\"VolumeDriver\"]}");
    } else if (strcmp(path, "/VolumeDriver.Create") == 0) {
        if (find(name) < 0 && nvolumes < MAX_VOLUMES) strcpy(volumes[nvolumes++], name);
        answer(fd, 200, "{\"Err\":\"\"}");
    } else if (strcmp(path, "/VolumeDriver.Remove") == 0) {
        int i = find(name);
        if (i >= 0) { memmove(volumes[i], volumes[nvolumes - 1], NAME_LEN); nvolumes--; }
        answer(fd, 200, "{\"Err\":\"\"}");
    } else if (strcmp(path, "/VolumeDriver.Get") == 0) {
        if (find(name) < 0) { answer(fd, 200, "{\"Err\":\"no such volume\"}"); return; }
        snprintf(reply, sizeof reply, "{\"Volume\":{\"Name\":\"%s\",\"Mountpoint\":\"/data/%s\"},\"Err\":\"\"}",
                 name, name);
        answer(fd, 200, reply);
    } else if (strcmp(path, "/VolumeDriver.List") == 0) {
        size_t len = snprintf(reply, sizeof reply, "{\"Volumes\":[");
        for (int i = 0; i < nvolumes && len < sizeof reply - 300; i++)
            len += snprintf(reply + len, sizeof reply - len, "%s{\"Name\":\"%s\",\"Mountpoint\":\"/data/%s\"}",
                            i ? "," : "", volumes[i], volumes[i]);
        snprintf(reply + len, sizeof reply - len, "],\"Err\":\"\"}");
        answer(fd, 200, reply);
    } else if (strcmp(path, "/VolumeDriver.Capabilities") == 0) {
        answer(fd, 200, "{\"Capabilities\":{\"Scope\":\"local\"}}");
    } else if (strcmp(path, "/VolumeDriver.Path") == 0 || strcmp(path, "/VolumeDriver.Mount") == 0) {
        snprintf(reply, sizeof reply, "{\"Mountpoint\":\"/data/%s\",\"Err\":\"\"}", name);
        answer(fd, 200, reply);
    } else if (strcmp(path, "/VolumeDriver.Unmount") == 0) {
        answer(fd, 200, "{\"Err\":\"\"}");
    } else {
        answer(fd, 404, "{\"Err\":\"unknown method\"}");
    }
}

static void serve(int fd) {
    char buf[16384];
    size_t got = 0;
    char *end = NULL;
    while (!end && got < sizeof buf - 1) {
        ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
        if (n <= 0) return;
        got += n;
        buf[got] = 0;
        end = strstr(buf, "\r\n\r\n");
    }
    if (!end) return;
    size_t length = 0;
    const char *cl = strcasestr(buf, "Content-Length:");
    if (cl && cl < end) length = strtoul(cl + 15, NULL, 10);
    char *body = end + 4;
    while ((size_t)(buf + got - body) < length && got < sizeof buf - 1) {
        ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
        if (n <= 0) break;
        got += n;
        buf[got] = 0;
    }
    char path[256] = "";
    sscanf(buf, "%*s %255s", path);
    route(fd, path, body);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: volplugin SOCKET [ARGS]\n"); return 2; }
    signal(SIGTERM, on_term);
    signal(SIGPIPE, SIG_IGN);
    char *slash = strrchr(argv[1], '/');
    snprintf(logpath, sizeof logpath, "%.*s/requests.log", slash ? (int)(slash - argv[1]) : 1,
             slash ? argv[1] : ".");
    char args[512] = "";
    for (int i = 2; i < argc; i++) {
        strncat(args, argv[i], sizeof args - strlen(args) - 2);
        if (i + 1 < argc) strcat(args, " ");
    }
    char started[700];
    snprintf(started, sizeof started, "MODE=%s args=%s", getenv("MODE") ? getenv("MODE") : "", args);
    logline("started", started);
    int srv = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
    unlink(argv[1]);
    if (bind(srv, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(srv, 16) < 0) {
        perror("listen");
        return 1;
    }
    for (;;) {
        int fd = accept(srv, NULL, NULL);
        if (fd < 0) { if (errno == EINTR) continue; return 1; }
        serve(fd);
        close(fd);
    }
}
