"""The shared contract: messages, codec, scenario, results and their files, registry, network
profile, REPORT lines. Imports nothing of this project's."""
