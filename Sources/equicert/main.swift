import ArgumentParser
EquicertCommand.main()
