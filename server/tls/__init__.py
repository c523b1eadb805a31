"""HTTPS and WSS: the server's certificate (generated, given, inspected) and its reloadable SSLContext."""
