import translator  # noqa: F401 - first: it sizes numeric thread pools before anything loads numpy
