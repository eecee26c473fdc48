"""Fleet and workforce telemetry: devices, the gateway, positions, attendance, coverage."""
