import XCTest
@testable import MHLR
