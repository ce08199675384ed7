// ESP-IDF: the lwIP netif behind "ap" (soft-AP) or "sta". Built only by
// micropython.cmake (ESP32); the binding takes any function of this name.
#include <string.h>

#include "esp_netif.h"
#include "esp_netif_net_stack.h"   // esp_netif_get_netif_impl

struct netif *fmipkey_hw_netif(const char *name) {
    const char *key = strcmp(name, "ap") == 0 ? "WIFI_AP_DEF" : strcmp(name, "sta") == 0 ? "WIFI_STA_DEF" : NULL;
    esp_netif_t *h = key != NULL ? esp_netif_get_handle_from_ifkey(key) : NULL;
    return h != NULL ? (struct netif *)esp_netif_get_netif_impl(h) : NULL;
}
