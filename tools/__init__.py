"""The top of the house: what people run around the platform's services — the ``citywatch`` command
(:mod:`tools.cli`), the local platform of ``make up`` (:mod:`tools.up`), the throwaway PostgreSQL and
Mosquitto servers of the tests and benchmarks (:mod:`tools.localservices`), the benchmarks
(:mod:`tools.bench`) and the NAB scorer (:mod:`tools.nab`). Nothing below imports from here."""
