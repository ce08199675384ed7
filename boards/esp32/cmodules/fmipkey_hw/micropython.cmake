# fmipkey_hw for the esp32 port (ESP-IDF, CMake):
#   make -C ports/esp32 BOARD=... USER_C_MODULES=/path/to/fmipkey/boards/esp32/cmodules/micropython.cmake
# The esp32 port's main component already requires mbedtls, lwip and esp_netif.
add_library(usermod_fmipkey_hw INTERFACE)
target_sources(usermod_fmipkey_hw INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}/modfmipkey_hw.c
    ${CMAKE_CURRENT_LIST_DIR}/mpi.c
    ${CMAKE_CURRENT_LIST_DIR}/rawip6.c
    ${CMAKE_CURRENT_LIST_DIR}/netif_esp32.c
)
target_include_directories(usermod_fmipkey_hw INTERFACE ${CMAKE_CURRENT_LIST_DIR})
target_compile_definitions(usermod_fmipkey_hw INTERFACE FMIPKEY_HW_RAWIP6=1)
target_link_libraries(usermod INTERFACE usermod_fmipkey_hw)
