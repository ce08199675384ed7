/* The ESP32's raw-IPv6 path on a host: Debian's lwIP (2.1.3, its unix port's
 * sys_arch and tcpip thread) on a TAP device, the fmipkey_hw rawip6 core on
 * its netif, and the core's calls relayed over a unix datagram socket to a
 * process running the firmware (host_tests/lwiprelay.py stands in for the
 * fmipkey_hw binding).
 *
 *   lwip_relay TAPDEV SOCKET MAC
 *
 * The netif driver is the small one below, not Debian's tapif: liblwip 2.1.3+dfsg1-2
 * overflows its PBUF_POOL buffers for frames over ~600 octets (the library's pool
 * size does not match its installed lwipopts.h; AddressSanitizer shows the write in
 * tapif's pbuf_take), and a CPA or RtSolPr is bigger. This driver allocates PBUF_RAM
 * of the frame's size, as ESP-IDF's Wi-Fi driver hands lwIP a buffer per frame.
 *
 * Requests (one datagram each, answered to the sender):
 *   'O' addr[16] ('p' prefix[8] | '-') wake_path -> 'r' status(i32) mac[6]  rawip6_open
 *   'S' packet                          -> 'r' status(i32)           rawip6_send
 *   'R'                                 -> 'P' mac[6] packet | 'N'   rawip6_recv
 *   'L'                                 -> 'r' length(i32)           rawip6_pending
 *   'T'                                 -> 'r' 0 stats(5 x u32)      rawip6_get_stats
 *   'C'                                 -> 'r' 0                     rawip6_close
 * After open, the core's notify hook (in lwIP's tcpip thread) sends one byte
 * to wake_path for each packet queued: the reader polls that socket. */
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/tcpip.h"

#include "rawip6.h"

static struct netif tap;
static int tapfd = -1, sock = -1;
static struct sockaddr_un wake;

static void notify(void) {
    sendto(sock, "!", 1, MSG_DONTWAIT, (struct sockaddr *)&wake, sizeof(wake));
}

static err_t tap_output(struct netif *netif, struct pbuf *p) {
    uint8_t frame[1518];
    (void)netif;
    if (p->tot_len > sizeof(frame)) {
        return ERR_IF;
    }
    pbuf_copy_partial(p, frame, p->tot_len, 0);
    return write(tapfd, frame, p->tot_len) == p->tot_len ? ERR_OK : ERR_IF;
}

static err_t tap_init(struct netif *netif) {
    netif->name[0] = 't';
    netif->name[1] = 'p';
    netif->output = etharp_output;
    netif->output_ip6 = ethip6_output;
    netif->linkoutput = tap_output;
    netif->mtu = 1500;
    netif->hwaddr_len = 6;
    // MLD6 as ESP-IDF's Wi-Fi netifs: lwIP joins the solicited-node groups of its addresses
    netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_MLD6;
    return ERR_OK;
}

// Every frame the TAP device gives, to lwIP's tcpip thread (tcpip_input queues it).
static void *tap_reader(void *arg) {
    uint8_t frame[1518];
    (void)arg;
    for (;;) {
        ssize_t n = read(tapfd, frame, sizeof(frame));
        struct pbuf *p = n > 0 ? pbuf_alloc(PBUF_RAW, (u16_t)n, PBUF_RAM) : NULL;
        if (p == NULL) {
            continue;
        }
        memcpy(p->payload, frame, (size_t)n);
        if (tap.input(p, &tap) != ERR_OK) {
            pbuf_free(p);
        }
    }
    return NULL;
}

static int open_tap(const char *name) {
    struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    int fd = open("/dev/net/tun", O_RDWR);
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) != 0) {
        return -1;
    }
    return fd;
}

static int parse_mac(const char *s, uint8_t mac[6]) {
    unsigned v[6];
    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
        return -1;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = (uint8_t)v[i];
    }
    return 0;
}

static void reply_status(struct sockaddr_un *to, socklen_t tolen, int32_t status, const void *more, size_t n) {
    uint8_t out[64];
    out[0] = 'r';
    memcpy(out + 1, &status, 4);
    memcpy(out + 5, more, n);
    sendto(sock, out, 5 + n, 0, (struct sockaddr *)to, tolen);
}

int main(int argc, char **argv) {
    uint8_t mac[6];
    if (argc != 4 || parse_mac(argv[3], mac) != 0) {
        fprintf(stderr, "usage: %s TAPDEV SOCKET MAC\n", argv[0]);
        return 2;
    }
    if ((tapfd = open_tap(argv[1])) < 0) {
        perror("lwip_relay: /dev/net/tun");
        return 1;
    }
    sock = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un me = {.sun_family = AF_UNIX};
    snprintf(me.sun_path, sizeof(me.sun_path), "%s", argv[2]);
    unlink(me.sun_path);
    if (sock < 0 || bind(sock, (struct sockaddr *)&me, sizeof(me)) != 0) {
        perror("lwip_relay: socket");
        return 1;
    }

    tcpip_init(NULL, NULL);
    LOCK_TCPIP_CORE();
    netif_add(&tap, NULL, NULL, NULL, NULL, tap_init, tcpip_input);
    memcpy(tap.hwaddr, mac, 6);
    netif_set_up(&tap);
    netif_set_link_up(&tap);
    UNLOCK_TCPIP_CORE();
    pthread_t reader;
    pthread_create(&reader, NULL, tap_reader, NULL);
    printf("lwip_relay: lwIP %s on %s, %02x:%02x:%02x:%02x:%02x:%02x\n", LWIP_VERSION_STRING,
        argv[1], mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    fflush(stdout);

    static uint8_t req[2048], out[2048];
    for (;;) {
        struct sockaddr_un from;
        socklen_t fromlen = sizeof(from);
        ssize_t n = recvfrom(sock, req, sizeof(req), 0, (struct sockaddr *)&from, &fromlen);
        if (n < 1) {
            continue;
        }
        switch (req[0]) {
            case 'O': {
                if (n < 17) {
                    reply_status(&from, fromlen, -1, NULL, 0);
                    break;
                }
                // p: an on-link prefix follows
                int has_prefix = n > 25 && req[17] == 'p';
                size_t path_at = has_prefix ? 26 : 18;
                wake = (struct sockaddr_un){.sun_family = AF_UNIX};
                memcpy(wake.sun_path, req + path_at, (size_t)n - path_at < sizeof(wake.sun_path) - 1
                    ? (size_t)n - path_at : sizeof(wake.sun_path) - 1);
                int32_t st = rawip6_open(&tap, req + 1, has_prefix ? req + 18 : NULL, notify);
                uint8_t m[6];
                rawip6_mac(m);
                reply_status(&from, fromlen, st, m, 6);
                break;
            }
            case 'S':
                reply_status(&from, fromlen, rawip6_send(req + 1, (size_t)n - 1), NULL, 0);
                break;
            case 'R': {
                size_t len = rawip6_recv(out + 7, sizeof(out) - 7, out + 1);
                out[0] = len ? 'P' : 'N';
                sendto(sock, out, len ? 7 + len : 1, 0, (struct sockaddr *)&from, fromlen);
                break;
            }
            case 'L':
                reply_status(&from, fromlen, (int32_t)rawip6_pending(), NULL, 0);
                break;
            case 'T': {
                struct rawip6_stats s;
                rawip6_get_stats(&s);
                uint32_t v[5] = {s.rx, s.rx_full, s.rx_big, s.tx, s.tx_error};
                reply_status(&from, fromlen, 0, v, sizeof(v));
                break;
            }
            case 'C':
                rawip6_close();
                reply_status(&from, fromlen, 0, NULL, 0);
                break;
            default:
                reply_status(&from, fromlen, -1, NULL, 0);
        }
    }
}
