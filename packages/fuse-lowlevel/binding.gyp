{
  "targets": [
    {
      "target_name": "fuse_lowlevel",
      "sources": [
        "src/ll_session.c",
        "src/ll_ops.c",
        "src/ll_dispatch.c",
        "src/ll_requests.c",
        "src/ll_reply.c"
      ],
      "include_dirs": ["<!@(pkg-config --cflags-only-I fuse3 | sed s/-I//g)"],
      "libraries": ["<!@(pkg-config --libs fuse3)"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"]
    }
  ]
}
