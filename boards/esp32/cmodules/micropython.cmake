# USER_C_MODULES entry point for the esp32 port: every module under cmodules/.
include(${CMAKE_CURRENT_LIST_DIR}/fmipkey_hw/micropython.cmake)
