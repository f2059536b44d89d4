import Testing
@testable import Optimizers
