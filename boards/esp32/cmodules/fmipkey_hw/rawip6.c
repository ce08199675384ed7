// See rawip6.h. lwIP 2.1 raw API only (ESP-IDF 5's lwIP and Debian's liblwip).
#include <string.h>

#include "lwip/opt.h"
#include "lwip/ip6_addr.h"
#include "lwip/mld6.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/prot/ethernet.h"
#include "lwip/raw.h"
#include "lwip/sys.h"
#include "lwip/priv/tcpip_priv.h"

#include "rawip6.h"

#if !LWIP_IPV6 || !LWIP_RAW || !LWIP_IPV6_MLD
#error "fmipkey_hw rawip6 needs lwIP with LWIP_IPV6, LWIP_RAW and LWIP_IPV6_MLD"
#endif

#define NH_HOPOPTS 0
#define NH_ROUTING 43
#define NH_DSTOPTS 60
#define NH_ICMPV6 58
#define NH_MH 135

struct slot {
    uint16_t len;
    uint8_t mac[6];
    uint8_t data[RAWIP6_SLOT_SIZE];
};

// Written by the tcpip task (PCBs, ring producer) and the reader (ring
// consumer, open/close through tcpip_api_call): the ring's indices only
// under SYS_ARCH_PROTECT.
static struct {
    struct netif *netif;
    struct raw_pcb *icmp, *mh, *dstopts;
    ip6_addr_t addr, onlink;   // onlink: unspecified when no prefix was given
    void (*notify)(void);
    struct slot ring[RAWIP6_SLOTS];
    unsigned head, count;   // oldest slot, slots in use
    struct rawip6_stats stats;
} rawip6;

// The protocol the extension headers of pkt lead to, its offset in *off;
// -1 when the chain is cut short.
static int upper_layer(struct pbuf *p, uint16_t *off) {
    uint8_t nh = pbuf_get_at(p, 6);
    uint32_t at = 40;   // not 16 bits: a chain near 64 KiB (reassembled) would wrap it and loop
    while (nh == NH_HOPOPTS || nh == NH_ROUTING || nh == NH_DSTOPTS) {
        if (at + 2 > p->tot_len) {
            return -1;
        }
        nh = pbuf_get_at(p, (u16_t)at);
        at += 8 * (pbuf_get_at(p, (u16_t)(at + 1)) + 1);
    }
    *off = (uint16_t)at;
    return at < p->tot_len ? nh : -1;
}

static int wanted(struct pbuf *p) {
    uint16_t off;
    int nh = upper_layer(p, &off);
    if (nh == NH_MH) {
        return 1;
    }
    if (nh == NH_ICMPV6) {
        uint8_t type = pbuf_get_at(p, off);
        return type == 148 || type == 149 || type == 154;  // CPS, CPA (rfc3971), FMIPv6 (rfc5568)
    }
    return 0;
}

// The source MAC of the frame p arrived in: its Ethernet header is still in
// the buffer in front of the IPv6 header lwIP's ethernet_input skipped.
static void frame_source(struct pbuf *p, uint8_t mac[6]) {
    memset(mac, 0, 6);
    if ((rawip6.netif->flags & NETIF_FLAG_ETHERNET) == 0 && (rawip6.netif->flags & NETIF_FLAG_ETHARP) == 0) {
        return;
    }
    if (pbuf_add_header_force(p, SIZEOF_ETH_HDR) == 0) {
        pbuf_copy_partial(p, mac, 6, 6);
        pbuf_remove_header(p, SIZEOF_ETH_HDR);  // lwIP checks the payload pointer is as it was
    }
}

// In the tcpip task. Returns 1 (eaten, freed here) for a packet queued or
// dropped for the ring, 0 to let lwIP go on with it.
static u8_t on_packet(void *arg, struct raw_pcb *pcb, struct pbuf *p, const ip_addr_t *from) {
    LWIP_UNUSED_ARG(arg);
    LWIP_UNUSED_ARG(pcb);
    LWIP_UNUSED_ARG(from);
    if (p->tot_len < 40 || !wanted(p)) {
        return 0;
    }
    uint8_t mac[6];
    frame_source(p, mac);
    int queued = 0;
    SYS_ARCH_DECL_PROTECT(lev);
    SYS_ARCH_PROTECT(lev);
    if (p->tot_len > RAWIP6_SLOT_SIZE) {
        rawip6.stats.rx_big++;
    } else if (rawip6.count == RAWIP6_SLOTS) {
        rawip6.stats.rx_full++;
    } else {
        struct slot *s = &rawip6.ring[(rawip6.head + rawip6.count) % RAWIP6_SLOTS];
        s->len = pbuf_copy_partial(p, s->data, p->tot_len, 0);
        memcpy(s->mac, mac, 6);
        rawip6.count++;
        rawip6.stats.rx++;
        queued = 1;
    }
    SYS_ARCH_UNPROTECT(lev);
    pbuf_free(p);
    if (queued && rawip6.notify != NULL) {
        rawip6.notify();
    }
    return 1;
}

static struct raw_pcb *new_pcb(uint8_t proto, uint16_t chksum_offset) {
    struct raw_pcb *pcb = raw_new_ip_type(IPADDR_TYPE_V6, proto);
    if (pcb == NULL) {
        return NULL;
    }
    raw_bind_netif(pcb, rawip6.netif);
    raw_recv(pcb, on_packet, NULL);
    pcb->chksum_reqd = chksum_offset != 0;
    pcb->chksum_offset = chksum_offset;
    return pcb;
}

static void solicited_node(ip6_addr_t *group, const ip6_addr_t *addr) {
    ip6_addr_set_solicitednode(group, addr->addr[3] & PP_HTONL(0x00ffffffUL));
}

struct call {
    struct tcpip_api_call_data base;   // first: tcpip_api_call hands back this pointer
    const uint8_t *pkt;
    size_t len;
};

static void remove_all(void) {
    struct raw_pcb **pcbs[] = {&rawip6.icmp, &rawip6.mh, &rawip6.dstopts};
    for (size_t i = 0; i < sizeof(pcbs) / sizeof(pcbs[0]); i++) {
        if (*pcbs[i] != NULL) {
            raw_remove(*pcbs[i]);
            *pcbs[i] = NULL;
        }
    }
    ip6_addr_t group;
    ip6_addr_set_allrouters_linklocal(&group);
    mld6_leavegroup_netif(rawip6.netif, &group);
    solicited_node(&group, &rawip6.addr);
    mld6_leavegroup_netif(rawip6.netif, &group);
    const ip6_addr_t *ours[] = {&rawip6.addr, &rawip6.onlink};
    for (size_t a = 0; a < 2; a++) {
        s8_t i = ip6_addr_isany(ours[a]) ? -1 : netif_get_ip6_addr_match(rawip6.netif, ours[a]);
        if (i >= 0) {
            netif_ip6_addr_set_state(rawip6.netif, i, IP6_ADDR_INVALID);
        }
    }
    rawip6.netif = NULL;
}

static err_t do_open(struct tcpip_api_call_data *c) {
    LWIP_UNUSED_ARG(c);
    s8_t idx;
    ip6_addr_t group;
    // ICMPv6 checksum at offset 2 (rfc4443 2.3), MH at offset 4 (rfc6275 6.1.1);
    // Destination Options are received only (an MN's FBU with a Home Address option)
    rawip6.icmp = new_pcb(NH_ICMPV6, 2);
    rawip6.mh = new_pcb(NH_MH, 4);
    rawip6.dstopts = new_pcb(NH_DSTOPTS, 0);
    err_t err = (rawip6.icmp && rawip6.mh && rawip6.dstopts) ? ERR_OK : ERR_MEM;
    if (err == ERR_OK) {
        err = netif_add_ip6_address(rawip6.netif, &rawip6.addr, &idx);
    }
    if (err == ERR_OK) {
        netif_ip6_addr_set_state(rawip6.netif, idx, IP6_ADDR_PREFERRED);
        if (!ip6_addr_isany(&rawip6.onlink)) {
            err = netif_add_ip6_address(rawip6.netif, &rawip6.onlink, &idx);
        }
    }
    if (err == ERR_OK) {
        if (!ip6_addr_isany(&rawip6.onlink)) {
            netif_ip6_addr_set_state(rawip6.netif, idx, IP6_ADDR_PREFERRED);
        }
        ip6_addr_set_allrouters_linklocal(&group);
        err = mld6_joingroup_netif(rawip6.netif, &group);
    }
    if (err == ERR_OK) {
        solicited_node(&group, &rawip6.addr);
        err = mld6_joingroup_netif(rawip6.netif, &group);
    }
    if (err != ERR_OK) {
        remove_all();
    }
    return err;
}

int rawip6_open(struct netif *netif, const uint8_t addr[16], const uint8_t *prefix, void (*notify)(void)) {
    struct call c;
    if (rawip6.netif != NULL) {
        return ERR_INPROGRESS;
    }
    memset(&rawip6, 0, sizeof(rawip6));
    rawip6.netif = netif;
    rawip6.notify = notify;
    memcpy(rawip6.addr.addr, addr, 16);
    ip6_addr_clear_zone(&rawip6.addr);  // netif_add_ip6_address gives a link-local its zone
    if (prefix != NULL) {
        memcpy(rawip6.onlink.addr, prefix, 8);
        memcpy((uint8_t *)rawip6.onlink.addr + 8, addr + 8, 8);
    }
    return tcpip_api_call(do_open, &c.base);
}

static void ip6_from(ip_addr_t *a, const uint8_t *octets) {
    memset(a, 0, sizeof(*a));
    IP_SET_TYPE_VAL(*a, IPADDR_TYPE_V6);
    memcpy(ip_2_ip6(a)->addr, octets, 16);
    ip6_addr_assign_zone(ip_2_ip6(a), IP6_UNKNOWN, rawip6.netif);
}

static err_t do_send(struct tcpip_api_call_data *base) {
    struct call *c = (struct call *)base;
    const uint8_t *pkt = c->pkt;
    if (rawip6.netif == NULL) {
        return ERR_CONN;
    }
    struct raw_pcb *pcb = pkt[6] == NH_ICMPV6 ? rawip6.icmp : pkt[6] == NH_MH ? rawip6.mh
        : pkt[6] == NH_DSTOPTS ? rawip6.dstopts : NULL;
    if (pcb == NULL || c->len < 40u + (pcb->chksum_reqd ? pcb->chksum_offset + 2u : 0u)) {
        return ERR_VAL;
    }
    size_t plen = c->len - 40;
    struct pbuf *p = pbuf_alloc(PBUF_IP, (u16_t)plen, PBUF_RAM);
    if (p == NULL) {
        return ERR_MEM;
    }
    memcpy(p->payload, pkt + 40, plen);
    if (pcb->chksum_reqd) {
        // lwIP sums the field as it finds it: zero the engine's checksum first
        memset((uint8_t *)p->payload + pcb->chksum_offset, 0, 2);
    }
    ip_addr_t src, dst;
    ip6_from(&src, pkt + 8);
    ip6_from(&dst, pkt + 24);
    pcb->ttl = pkt[7];                          // 255 for ND messages (rfc4861 6.1)
#if LWIP_MULTICAST_TX_OPTIONS
    raw_set_multicast_ttl(pcb, pkt[7]);         // else lwIP sends multicast with hop limit 1
#endif
    err_t err = raw_sendto_if_src(pcb, p, &dst, rawip6.netif, &src);
    pbuf_free(p);
    return err;
}

int rawip6_send(const uint8_t *pkt, size_t len) {
    struct call c;
    if (len < 40 || len > 0xffff || (pkt[0] >> 4) != 6 || (size_t)((pkt[4] << 8) | pkt[5]) + 40 != len) {
        return ERR_VAL;
    }
    c.pkt = pkt;
    c.len = len;
    err_t err = tcpip_api_call(do_send, &c.base);
    SYS_ARCH_DECL_PROTECT(lev);
    SYS_ARCH_PROTECT(lev);
    if (err == ERR_OK) {
        rawip6.stats.tx++;
    } else {
        rawip6.stats.tx_error++;
    }
    SYS_ARCH_UNPROTECT(lev);
    return err;
}

size_t rawip6_recv(uint8_t *buf, size_t cap, uint8_t src_mac[6]) {
    size_t n = 0;
    SYS_ARCH_DECL_PROTECT(lev);
    SYS_ARCH_PROTECT(lev);
    if (rawip6.count > 0) {
        struct slot *s = &rawip6.ring[rawip6.head];
        n = s->len < cap ? s->len : cap;
        memcpy(buf, s->data, n);
        memcpy(src_mac, s->mac, 6);
        rawip6.head = (rawip6.head + 1) % RAWIP6_SLOTS;
        rawip6.count--;
    }
    SYS_ARCH_UNPROTECT(lev);
    return n;
}

size_t rawip6_pending(void) {
    size_t n = 0;
    SYS_ARCH_DECL_PROTECT(lev);
    SYS_ARCH_PROTECT(lev);
    if (rawip6.count > 0) {
        n = rawip6.ring[rawip6.head].len;
    }
    SYS_ARCH_UNPROTECT(lev);
    return n;
}

void rawip6_get_stats(struct rawip6_stats *out) {
    SYS_ARCH_DECL_PROTECT(lev);
    SYS_ARCH_PROTECT(lev);
    *out = rawip6.stats;
    SYS_ARCH_UNPROTECT(lev);
}

void rawip6_mac(uint8_t mac[6]) {
    memset(mac, 0, 6);
    if (rawip6.netif != NULL && rawip6.netif->hwaddr_len == 6) {
        memcpy(mac, rawip6.netif->hwaddr, 6);
    }
}

static err_t do_close(struct tcpip_api_call_data *c) {
    LWIP_UNUSED_ARG(c);
    if (rawip6.netif != NULL) {
        remove_all();
    }
    return ERR_OK;
}

void rawip6_close(void) {
    struct call c;
    tcpip_api_call(do_close, &c.base);
    SYS_ARCH_DECL_PROTECT(lev);
    SYS_ARCH_PROTECT(lev);
    rawip6.count = 0;
    SYS_ARCH_UNPROTECT(lev);
}
