# Frozen into the image: the port's own modules (_boot.py mounts littlefs) and
# the fmipkey package as bytecode in flash. Imported frozen, the firmware costs
# ~12 KB of heap instead of ~69 KB as .mpy files on the file system.
freeze("$(PORT_DIR)/modules")
package("fmipkey", base_path="$(BOARD_DIR)/../../firmware")   # BOARD_DIR: this directory
