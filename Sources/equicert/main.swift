import ArgumentParser
BLASCoreSelection.reexecIfNeeded()
EquicertCommand.main()
