int port_offset(void) { return 1; }
