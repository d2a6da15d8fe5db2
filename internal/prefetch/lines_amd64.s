#include "textflag.h"

// func Lines(ptrs []unsafe.Pointer)
TEXT ·Lines(SB), NOSPLIT|NOFRAME, $0-24
	MOVQ ptrs_base+0(FP), SI
	MOVQ ptrs_len+8(FP), CX
	TESTQ CX, CX
	JZ done
loop:
	MOVQ (SI), AX
	PREFETCHT0 (AX)
	ADDQ $8, SI
	DECQ CX
	JNZ loop
done:
	RET
