"""CI-native files written from results.json: junit.xml and results.ktap per target,
kcidb.json per run. Each is built from the documents alone, so `./tcprepro report`
can write them again for merged shards."""
