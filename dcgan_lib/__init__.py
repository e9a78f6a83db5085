"""dcgan_lib: the library behind "DCGAN, Reproduced" (Radford, Metz & Chintala, 2015).

Modules map to the paper: ``config`` and ``models`` (§3), ``data`` and ``train`` (§4),
``artifacts`` (what the book loads). Importing it has no side effects.
"""

__version__ = "0.1.0"
