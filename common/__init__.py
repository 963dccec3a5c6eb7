"""The base layer every package of the pipeline shares: errors, file and output-folder helpers, SONATA files.

Nothing here imports from the pipeline's packages (``build_network``, ``inputs``, ``simulation``, ``analysis``, ...).
"""
