// Raw IPv6 for the fmipkey engines on lwIP's raw API, with no MicroPython in
// sight (the binding in modfmipkey_hw.c is thin). One instance: an access
// point serves one link.
//
// What it does on the netif it is opened on:
// - installs the node's link-local CGA (preferred at once, no DAD: like
//   `ip -6 addr add ... nodad` on Linux) and joins its solicited-node group
//   and ff02::2 (all-routers: CPS, RtSolPr may be multicast);
// - with a prefix (the one the AR serves), also prefix + the CGA's interface
//   identifier as a static address: lwIP takes a destination as on-link only
//   from RAs it received or a static address's /64, and an AR answers MNs at
//   their CGAs on that prefix;
// - raw PCBs for ICMPv6 (58), the Mobility Header (135) and Destination
//   Options (60: an FBU carrying a Home Address option). lwIP offers every
//   packet to raw PCBs before its own ICMPv6 code, so the ICMPv6 PCB takes
//   only SEND/FMIPv6 types 148, 149, 154 and leaves the rest (NS/NA, echo,
//   MLD) to lwIP;
// - copies each packet taken, whole from its IPv6 header, with the frame's
//   source MAC, into a bounded ring. That happens in the tcpip task; the
//   reader takes packets out from its own task.
// Sends whole IPv6 packets as the engines built them: lwIP writes the IPv6
// header again from the packet's addresses and hop limit and fills the
// ICMPv6/MH checksum (chksum_reqd, offsets 2 and 4).
//
// Every call but the receive callback takes the lwIP core through
// tcpip_api_call; none may be made from the tcpip task itself.
#ifndef FMIPKEY_RAWIP6_H
#define FMIPKEY_RAWIP6_H

#include <stddef.h>
#include <stdint.h>

struct netif;

#ifndef RAWIP6_SLOTS
#define RAWIP6_SLOTS 4          // packets waiting for the reader; more are dropped and counted
#endif
#ifndef RAWIP6_SLOT_SIZE
#define RAWIP6_SLOT_SIZE 1500   // the soft-AP's MTU; a larger packet is dropped and counted
#endif

struct rawip6_stats {
    uint32_t rx;            // packets queued for the reader
    uint32_t rx_full;       // dropped: ring full
    uint32_t rx_big;        // dropped: larger than a slot
    uint32_t tx;            // packets handed to lwIP
    uint32_t tx_error;      // sends lwIP refused
};

// notify (may be NULL) runs in the tcpip task after a packet is queued: it
// must only signal (a task notification, a semaphore), never touch the reader's
// objects. Returns 0 or a negative lwIP err_t (ERR_INPROGRESS: already open).
// prefix: 8 octets, or NULL.
int rawip6_open(struct netif *netif, const uint8_t addr[16], const uint8_t *prefix, void (*notify)(void));

// Sends one IPv6 packet (fixed header + payload). 0 or a negative lwIP err_t
// (ERR_VAL: not a well-formed IPv6 packet; ERR_CONN: not open).
int rawip6_send(const uint8_t *pkt, size_t len);

// Takes the oldest queued packet: its length (0: none waiting; it never
// exceeds RAWIP6_SLOT_SIZE, a smaller buffer gets it cut), the sender's MAC
// in src_mac (zeros when the netif is not Ethernet-like).
size_t rawip6_recv(uint8_t *buf, size_t cap, uint8_t src_mac[6]);

// The length of the oldest queued packet, 0 when none: what the reader must
// allocate for it (a board's fragmented heap may have no slot-sized block free).
size_t rawip6_pending(void);
void rawip6_get_stats(struct rawip6_stats *out);
// The netif's MAC address (6 octets), once open.
void rawip6_mac(uint8_t mac[6]);
// Removes the PCBs, leaves the groups, removes the addresses, empties the ring;
// nothing to do when not open.
void rawip6_close(void);

#endif
