import Testing
@testable import Equilibrium
