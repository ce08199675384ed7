# fmipkey access point: the stock ESP32 board plus sdkconfig.board, this
# directory's partition table and manifest (README.md, "ESP32").
set(SDKCONFIG_DEFAULTS
    boards/sdkconfig.base
    ${MICROPY_BOARD_DIR}/sdkconfig.board
)
set(MICROPY_FROZEN_MANIFEST ${MICROPY_BOARD_DIR}/manifest.py)
