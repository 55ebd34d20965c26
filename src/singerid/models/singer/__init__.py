"""SingerClassifier. These four modules are copied beside every saved model for
`trust_remote_code`, so they import nothing from singerid outside this folder (a test
keeps it so)."""
