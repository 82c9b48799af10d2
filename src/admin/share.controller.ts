import { Body, Controller, HttpCode, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminAuthGuard, type AuthenticatedRequest } from '../http/auth/admin-auth.guard';
import { ApiAdminProblems } from '../http/problem.dto';
import { AdminError } from './admin.errors';
import { ShareDto, ShareRequestDto } from './dto/share.dto';
import { ShareService } from './share.service';

@ApiTags('share')
@ApiBearerAuth('bearer')
@UseGuards(AdminAuthGuard)
@Controller('admin/share')
export class ShareController {
  constructor(private readonly shares: ShareService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: 'The Tahoe cap of a file or directory, to hand to someone (needs the cap-revealing token)',
    description:
      'Answers the read-only cap (or, with write=true, the write cap of a directory) of a path or inode, the root ' +
      'without either. Only the cap-revealing token may ask (403 with the plain admin token); 409 when the inode ' +
      'has not reached Tahoe yet. The share is logged as an event, without the cap.',
    operationId: 'share',
  })
  @ApiOkResponse({ type: ShareDto })
  @ApiAdminProblems(403, 404, 409)
  share(@Body() body: ShareRequestDto, @Req() request: AuthenticatedRequest): Promise<ShareDto> {
    if (request.adminAccess !== 'reveal') {
      throw new AdminError(
        'SHARE_FORBIDDEN',
        'sharing a cap needs the cap-revealing token (admin-reveal-token), not the admin token',
      );
    }
    return this.shares.share(body);
  }
}
