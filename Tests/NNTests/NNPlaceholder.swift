import XCTest
@testable import NN
