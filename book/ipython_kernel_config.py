# The kernels that execute the book's notebooks (jupyter-book, nbval) are started by the build on
# this machine and reached over local TCP. ipykernel warns on every start that such a connection
# is not encrypted, once per notebook: noise in every build log. `make setup` installs this file
# as the environment's kernel configuration (.venv/etc/ipython/ipython_kernel_config.py), so the
# kernel application logs its errors only. Output of the notebooks' own code is not affected.
c = get_config()  # noqa: F821 (provided by IPython when it loads this file)
c.IPKernelApp.log_level = "ERROR"
