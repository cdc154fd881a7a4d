{
  "targets": [
    {
      "target_name": "netlink",
      "sources": ["src/netlink.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "libraries": ["-pthread"]
    }
  ]
}
