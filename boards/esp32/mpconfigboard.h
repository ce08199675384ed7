#define MICROPY_HW_BOARD_NAME "fmipkey access point"
#define MICROPY_HW_MCU_NAME "ESP32"
