"""Operations: request ids (``middleware``), Prometheus metrics (``metrics``, served at
``/metrics`` by ``middleware``) and ``learnloop doctor`` (``doctor``). See docs/operations.md."""
