/* lockbox-gatewayd: being written. */
#include <stdio.h>
int main(void)
{
	puts("lockbox-gatewayd");
	return 0;
}
