"""sfuctl command-line interface."""
