{
  "targets": [
    {
      "target_name": "bgp_sockopt",
      "sources": ["src/sockopt.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-pthread"],
      "ldflags": ["-pthread"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
