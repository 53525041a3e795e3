"""How the daemon reaches plugins: the HTTP transport and the legacy (file-based) discovery."""
