"""`./tcprepro kernel build`: a kernel built (or found cached) for --kernel."""
from __future__ import annotations

import os
import pathlib
import sys

from cli.common import UsageError

def cmd_kernel_build(args) -> int:
    """Builds (or finds cached) a kernel and prints the --kernel spec that boots it, last."""
    from harness.kernels import kernel_build, kernel_store
    if os.geteuid() != 0:
        raise UsageError("kernel build needs root: it writes the shared kernel cache in " + str(kernel_store.CACHE))
    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: must be at least 1")
    if not kernel_store.LABEL.fullmatch(args.name):
        raise UsageError(f"--name {args.name}: a letter then up to 39 letters, digits or ._+-")
    try:
        kernel_build.check_fragment(args.config)
        for patch in args.patch:
            if not patch.is_file():
                raise kernel_build.BuildInputError(f"--patch {patch}: no such file")
        source = (kernel_build.debian_source(args.source) if args.source.startswith("debian:")
                  else kernel_build.tree_source(pathlib.Path(args.source)))
        if args.check_config:
            config = kernel_build.check_config(source, args.config)
            print(f"{args.config}: every option kept by olddefconfig on {source.identity} ({config})")
            return 0
        built = kernel_build.build(source, args.patch, args.config, args.jobs)
    except (kernel_build.BuildInputError, kernel_store.KernelSpecError, kernel_store.CacheError) as error:
        raise UsageError(str(error)) from None
    except kernel_build.BuildError as error:
        print(f"tcprepro: error: {error}", file=sys.stderr)
        return 3
    how = "cached" if built.seconds is None else f"built in {built.seconds:.0f} s"
    print(f"{built.release} from {built.source}" + (f" + {', '.join(built.patches)}" if built.patches else "")
          + f": {how} ({built.folder})")
    print(f"{args.name}=local:{built.bzimage}")
    return 0
