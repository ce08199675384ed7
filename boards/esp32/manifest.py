# Frozen into the image: the port's own modules (_boot.py mounts littlefs) and
# the fmipkey package as bytecode in flash. Imported frozen, the AR daemon's modules
# cost 24 KB of heap instead of 106 KB as .mpy files (32-bit unix build of v1.28.0:
# docs/esp32-heap.md).
freeze("$(PORT_DIR)/modules")
package("fmipkey", base_path="$(BOARD_DIR)/../../firmware")   # BOARD_DIR: this directory
