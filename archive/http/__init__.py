"""Recording HTTP exchanges as sent and received: the recorder, the crawl, TLS, proxies and the
address rule."""
