"""The book's studies: each one's sizes, its ``run_*`` job, its export and its command line.

A study runs a method of ``dcgan_lib`` at the sizes of the book (``SIZES["smoke" | "book" |
"full"]``), stores its results in ``artifacts/`` and exposes ``run_cli(args)`` for ``python -m
dcgan_lib`` (its arguments are in ``studies.cli``, the command table); the book's pages call the
same job. Method modules never import a study. The pages' readers (``report*``, ``*_results``)
read what a study stored.
"""
