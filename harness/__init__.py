"""What the tests and the benchmarks share: the Voice Live test server, a live server on a free
port, real listener clients, talk synthesis and the browser's flags. Neither imports the other."""

import translator  # noqa: F401 - first: it sizes numeric thread pools before anything loads numpy
