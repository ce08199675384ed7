# fmipkey_hw for make-based ports (unix and others linking mbedTLS): modexp
# only. RawIP6 needs an lwIP netif, which those ports have not; it is built on
# ESP32 (micropython.cmake).
FMIPKEY_HW_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(FMIPKEY_HW_DIR)/modfmipkey_hw.c $(FMIPKEY_HW_DIR)/mpi.c
CFLAGS_USERMOD += -I$(FMIPKEY_HW_DIR)
