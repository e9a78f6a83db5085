"""The book's studies: each one's three sizes (``SIZES``), its ``run_*`` job, export and command.

A study measures a paper claim with the method modules of ``dcgan_lib`` (which never import a
study) and stores what it found under ``artifacts/``; each module adds its command to
``python -m dcgan_lib`` (``add_cli`` / ``run_cli``) and the book's pages call the same job.
"""
