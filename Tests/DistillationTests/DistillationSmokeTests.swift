import Testing
@testable import Distillation
