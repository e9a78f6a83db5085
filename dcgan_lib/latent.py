"""The old spelling ``python -m dcgan_lib.latent ...``: it runs ``python -m dcgan_lib latent ...``.

Only this entry point is left here (stored results record commands spelled this way). The §6.1 and
§6.3.2 methods are ``dcgan_lib.walks`` and ``dcgan_lib.arithmetic``; the study and its command are
``dcgan_lib.studies.latent``.
"""

import runpy
import sys

if __name__ == "__main__":
    sys.argv[1:1] = ["latent"]
    runpy.run_module("dcgan_lib", run_name="__main__", alter_sys=True)
