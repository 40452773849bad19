"""The gateway's use cases, one function each: controllers parse and authorize, then call one.

Pipeline writes (opening a version, announcing it, deleting a track) go through
``contracts.lifecycle`` for the rules, ids and keys, and through the ports for the I/O.
"""
