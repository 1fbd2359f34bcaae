package kernels

// MatMul holds the GEMM and the bias add of a linear layer.
type MatMul interface {
	// MatMul computes C = Alpha·op(A)·op(B) + Beta·C for each of p.Batch
	// products, row-major, where op(A) is [M,K] and op(B) is [K,N]. A is
	// stored [M,K] (or [K,M] when TransA), B is [K,N] (or [N,K] when
	// TransB), C is [M,N]; batch i starts at i·M·K, i·K·N and i·M·N. When
	// Beta is 0, C is not read (NaN in C does not propagate).
	//
	//	for bt := 0; bt < batch; bt++ {
	//	  for i := 0; i < M; i++ {
	//	    for j := 0; j < N; j++ {
	//	      var s float32
	//	      for l := 0; l < K; l++ { s += opA(bt, i, l) * opB(bt, l, j) }
	//	      c[bt*M*N+i*N+j] = Alpha*s + Beta*c[bt*M*N+i*N+j]
	//	    }
	//	  }
	//	}
	//
	// Backward is two more products: for C = A·B, dA += dC·Bᵀ and
	// dB += Aᵀ·dC (Beta = 1); the suite checks both against finite
	// differences.
	MatMul(c, a, b Buffer, p MatMulParams) error

	// BiasAdd adds a row vector to every row of x.
	//
	//	for r := 0; r < rows; r++ {
	//	  for c := 0; c < cols; c++ { y[r*cols+c] = x[r*cols+c] + bias[c] }
	//	}
	BiasAdd(y, x, bias Buffer, rows, cols int) error

	// BiasAddBackward accumulates the bias gradient, the column sums of dy
	// (the gradient of x is dy itself: Axpy).
	//
	//	for c := 0; c < cols; c++ {
	//	  for r := 0; r < rows; r++ { dbias[c] += dy[r*cols+c] }
	//	}
	BiasAddBackward(dbias, dy Buffer, rows, cols int) error
}
